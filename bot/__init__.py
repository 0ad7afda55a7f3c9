"""mlsprep: an interview coach for the AWS Machine Learning certification exams.

Importing the package is cheap on purpose: the embedding model and Slack are loaded by the
adapters that need them, never here.
"""

__version__ = "0.1.0"
