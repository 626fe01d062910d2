"""Neutral pieces the gateway and the simulator share: the HTTP shell, the config loader,
logging setup. Nothing here imports `gateway` or `simulator`."""
