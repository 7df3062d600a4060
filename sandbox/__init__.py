"""Sandbox emulators of Jushuitan and Kingdee K3Cloud, served on 127.0.0.1, and the world they serve."""
