"""dlgrader: grade free-text answers to deep-learning interview questions against a sourced bank."""

__version__ = "0.1.0"
