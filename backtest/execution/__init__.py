"""Execution: the Tokyo rules once (model), and the engines that drive them."""
