"""Tests of the bookshop, run against databases provided by dbtestkit."""
