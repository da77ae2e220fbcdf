"""wirewatch: a self-hosted news-monitoring bot for Slack and Discord."""

__version__ = "0.1.0"
PROJECT_URL = "https://github.com/wirewatch/wirewatch"
