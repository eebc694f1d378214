"""The web server of `consultbot run` (`[web] listen`): the who's-on board and the calendar
feeds (feeds.py)."""
