from chainledger.cli.main import main

main()
