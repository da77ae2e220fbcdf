"""One module per vendor or outside system, each behind one port of ``bot.ports``."""
