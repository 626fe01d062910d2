"""Compliance: encoding and segmentation, numbers, sender rules, opt-outs, quiet hours, caps."""
