"""Sans-IO SMPP 3.4 core shared by the gateway and the simulator (stdlib imports only)."""
