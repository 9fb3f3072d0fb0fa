"""Evaluation: gold loading, retrieval/answer/faithfulness metrics, a plain LangChain baseline, the NCPQA
benchmark and the report (`qa eval`). Nothing here changes what the pipeline answers; it only measures it."""
