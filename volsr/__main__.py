"""`python -m volsr` runs the command-line interface."""

from volsr.cli import main

if __name__ == "__main__":
    main()
