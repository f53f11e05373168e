from awards_follower.app import main

main()
