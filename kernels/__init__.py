"""Triton kernels, one file per op. Each file imports only torch and triton, so another
repository can copy it as is. Installed as ``lpfk.kernels``."""
