"""``python -m fdpo``: the same entry point as the ``fdpo`` console script."""

from fdpo.cli import main

if __name__ == "__main__":
    main()
