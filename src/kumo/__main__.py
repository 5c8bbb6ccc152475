from kumo.cli import main

main()
