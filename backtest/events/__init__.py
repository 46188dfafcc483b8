"""The point-in-time event calendar: dated, sourced events (data/) and the clock that says when each can trade."""
