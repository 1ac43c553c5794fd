"""`modernsearch bench`: speed, size and quality against the baselines each issue names, in one run. The commands
live in ``bench_quality`` (retrieval quality and encoding) and ``bench_systems`` (the running system)."""

from __future__ import annotations

import typer

from app.commands import bench_quality, bench_systems
from retrieval.registry import MULTIVECTOR

bench_app = typer.Typer(help="Benchmarks: speed, size and quality against baselines, in one run.", no_args_is_help=True)
bench_app.command(MULTIVECTOR)(bench_quality.bench_multivector)
bench_app.command("codecs")(bench_quality.bench_codecs)
bench_app.command("long")(bench_quality.bench_long)
bench_app.command("encode")(bench_quality.bench_encode)
bench_app.command("fusion")(bench_quality.bench_fusion)
bench_app.command("cold-start")(bench_systems.bench_cold_start)
bench_app.command("filter")(bench_systems.bench_filter)
bench_app.command("serve")(bench_systems.bench_serve)
bench_app.command("scale")(bench_systems.bench_scale)
