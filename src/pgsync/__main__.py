from pgsync.cli.entry import main

main()
