from threadline.connector.cli import main

main()
