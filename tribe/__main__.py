from tribe.cli import main

if __name__ == "__main__":  # not when a spawned process (tribe replay --jobs) imports it
    main()
