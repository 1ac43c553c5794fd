"""Benchmarks behind `modernsearch bench`: each compares this project against the baseline its issue names, in one
run on one machine, and prints a table and writes JSON (``eval/results/``).
"""
