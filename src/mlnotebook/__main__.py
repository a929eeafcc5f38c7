"""`python -m mlnotebook` is the same program as the `mlnb` console script."""

from mlnotebook.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
