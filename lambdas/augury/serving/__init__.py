"""Serving: trained artifacts loaded once per process and answered from memory."""
