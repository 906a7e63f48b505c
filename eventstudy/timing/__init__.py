"""Timing layer: venues, their exchange calendars, and day 0.

Maps each ticker to its venue and that venue's sessions (exchange_calendars), and aligns an announcement
timestamp to trading day 0 on the venue (the first session whose close comes after the release). Hands on
sessions and day-0 dates to the price layer and the engine.
"""
