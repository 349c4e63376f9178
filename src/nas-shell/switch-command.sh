#!/bin/sh
# A blue-green release behind the user's own proxy: their switch-command points it at a colour. The program defines
# nr_switch_command_user (their command, run by sh -c without the lock descriptors, or in a dry run the line saying
# what would run); it uses the prelude.

# nr_switch_command DIR REPO COLOR CONTAINER PORT: the user's command in the repository, the colour, its container
# and its port in its environment only; what it prints goes to DIR/switch.out
nr_switch_command() {
  ( cd "$2" && COLOR=$3 && CONTAINER=$4 && PORT=$5 && export COLOR CONTAINER PORT && nr_switch_command_user ) > "$1/switch.out" 2>&1
}

# nr_switch_command_said KIND DIR: what the command printed, a log line of KIND (info, fail) each
nr_switch_command_said() { while IFS= read -r nr_l; do nr_say "$1" "switch-command: $nr_l"; done < "$2/switch.out"; }
