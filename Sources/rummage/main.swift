import RummageCLI

RummageCLI.main()
