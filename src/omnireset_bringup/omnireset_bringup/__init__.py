"""Wiring of the OmniReset deployment graph (launch files, parameters, plain-Python runner)."""
