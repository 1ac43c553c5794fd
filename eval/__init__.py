"""Evaluation: BEIR metrics with pytrec_eval, benchmarks and reports."""
