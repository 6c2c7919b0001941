# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion for shmkctl(8); installed by `make install-tools` as
# $(PREFIX)/share/bash-completion/completions/shmkctl.
# COMPREPLY=($(compgen ...)) is the completion idiom (words never hold
# spaces here):
# shellcheck disable=SC2207

# The first column of a table shmkctl prints, header line skipped.
_shmkctl_names()
{
	"$1" "${@:2}" 2>/dev/null | while read -r name _; do
		case $name in
		NAME | SERVICE | "") ;;
		*) printf '%s\n' "$name" ;;
		esac
	done
}

_shmkctl()
{
	local cur prev words cword
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	local prog=${words[0]} cmd="" i nargs=0
	local create="--create --payload --publishers --subscribers --buffer
		--history --overflow --events --mode --zero-trust --dynamic"

	# The command: the first word that is not a global option.
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-j | --json | -h | --help | -V | --version) ;;
		*)
			cmd=${words[i]}
			break
			;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "--json --help --version list info create
			remove top service services echo publish notify listen hz
			record replay help" -- "$cur"))
		return
	fi
	# Words after the command that are not options: its arguments so far.
	for ((i = i + 1; i < cword; i++)); do
		case ${words[i]} in
		-*) ;;
		*) nargs=$((nargs + 1)) ;;
		esac
	done
	case $prev in
	--file | -f) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	--overflow) COMPREPLY=($(compgen -W "safe block" -- "$cur")); return ;;
	--kind) COMPREPLY=($(compgen -W "pubsub reqres event" -- "$cur")); return ;;
	--count | -n | --timeout | --window | --rate | --repeat | --duration | \
	--drain | --wait | --payload | --publishers | --subscribers | \
	--buffer | --history | --events | --mode | -m | --interval | -i)
		return ;;
	esac
	case $cmd in
	list | ls | services | svc)
		COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
	info | show | remove | rm | unlink)
		COMPREPLY=($(compgen -W "$(_shmkctl_names "$prog" list) --json" -- "$cur")) ;;
	create)
		COMPREPLY=($(compgen -W "--mode --rdonly --json" -- "$cur")) ;;
	top | watch)
		COMPREPLY=($(compgen -W "--interval --count --json" -- "$cur")) ;;
	service)
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -W "list info remove" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_shmkctl_names "$prog" service list) --json" -- "$cur"))
		fi ;;
	echo)
		COMPREPLY=($(compgen -W "$(_shmkctl_names "$prog" service list) --hex --text
			--count --timeout --json $create" -- "$cur")) ;;
	publish)
		COMPREPLY=($(compgen -W "$( ((nargs == 0)) && _shmkctl_names "$prog" service list)
			--file --hex --repeat --rate --stamp --drain --wait --json $create" -- "$cur")) ;;
	notify)
		COMPREPLY=($(compgen -W "$( ((nargs == 0)) && _shmkctl_names "$prog" service list)
			--repeat --wait --json $create" -- "$cur")) ;;
	listen)
		COMPREPLY=($(compgen -W "$(_shmkctl_names "$prog" service list) --count
			--timeout --json $create" -- "$cur")) ;;
	hz)
		COMPREPLY=($(compgen -W "$(_shmkctl_names "$prog" service list) --window
			--count --json $create" -- "$cur")) ;;
	record)
		if ((nargs == 1)); then
			COMPREPLY=($(compgen -f -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$( ((nargs == 0)) && _shmkctl_names "$prog" service list)
				--count --duration --timeout --json $create" -- "$cur"))
		fi ;;
	replay)
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -f -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$( ((nargs == 1)) && _shmkctl_names "$prog" service list)
				--rate --as-recorded --drain --wait --json $create" -- "$cur"))
		fi ;;
	esac
} &&
	complete -F _shmkctl shmkctl
