"""The backtrader engine of record: Cerebro and its strategy adapter, the Tokyo broker, the array feeds."""
