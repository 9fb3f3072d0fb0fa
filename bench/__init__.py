"""Developer tools outside the installed package: benchmarks (`qa bench`, `qa bench-load`, `qa bench-scale`) and the
synthetic corpus they use. The `qa` command registers them when it runs from a checkout that has this folder."""
