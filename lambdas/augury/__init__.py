"""Augury: Amazon Forecast and Amazon Personalize, open source.

Importing this package does nothing: stores, clients and servers are built by
``augury.bootstrap`` when something asks for them.
"""

__version__ = "0.1.0"
