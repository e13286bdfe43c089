from pgsync.cli.main import main

main()
