"""The unittest layer: the test case classes (the only modules that import unittest)."""
