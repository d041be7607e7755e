"""Measurement against real peers: real file sizes, never estimated bits."""
