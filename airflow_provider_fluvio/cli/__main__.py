import sys

from airflow_provider_fluvio.cli import main

sys.exit(main())
