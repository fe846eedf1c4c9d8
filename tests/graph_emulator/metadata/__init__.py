"""The check of the emulator's Graph model against Microsoft's published Graph v1.0 metadata (check.py).

Microsoft's metadata itself is never stored here: the developer brings a checkout and points check.py at it.
"""
