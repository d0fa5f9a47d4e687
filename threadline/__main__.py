from threadline.connector.cli.main import main

main()
