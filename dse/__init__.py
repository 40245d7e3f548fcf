"""dse: explore the design space of small CNNs the way the SqueezeNet paper did."""

__version__ = "0.1.0"
