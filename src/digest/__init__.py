"""digest: daily and weekly newsletter digests, selected, rendered, sent and accounted for."""

__version__ = "0.1.0"
