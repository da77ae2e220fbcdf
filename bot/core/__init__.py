"""The pure core: values in, values out. No network, disk, clock, environment or vendor SDKs."""
