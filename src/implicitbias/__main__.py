from implicitbias.cli import main

main()
