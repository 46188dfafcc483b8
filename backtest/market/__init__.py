"""Tokyo market rules and their tables: sessions, instruments and units, ticks, daily limits, costs, dividends."""
