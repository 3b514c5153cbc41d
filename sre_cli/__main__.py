from sre_cli.cli import main

main()
