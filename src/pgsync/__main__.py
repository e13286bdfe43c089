from pgsync.cli import main

main()
