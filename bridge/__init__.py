"""The command line and the wiring: parse input, build the parts, call the services."""
