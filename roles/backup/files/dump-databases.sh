#!/usr/bin/env bash
# dump-databases.sh DIR: every database of this MariaDB server but its own schemas,
# one dump each in DIR (NAME.sql.gz, in one transaction: consistent while the cloud
# runs, and NAME.create.sql, its CREATE DATABASE), each proven to restore: loaded into
# a scratch database, whose tables' row counts must lie between the live database's
# counts taken just before and just after the dump. Prints the names dumped, one a
# line; a dump that does not restore as it should is named on stderr, exit 1.
set -euo pipefail
dir=$1
# (#mysql50#...: a directory of the data directory that is no database, lost+found)
system='information_schema|performance_schema|mysql|sys|stackwright_verify_.*|#mysql50#.*'

# "table rows" lines of database $1, sorted by table
counts() {
	mariadb --batch --skip-column-names --execute "
		SELECT CONCAT('SELECT ''', table_name, ''', COUNT(*) FROM \`', table_schema, '\`.\`', table_name, '\`;')
		FROM information_schema.tables
		WHERE table_schema = '$1' AND table_type = 'BASE TABLE' ORDER BY table_name" |
		mariadb --batch --skip-column-names
}

scratch=
trap '[ -z "$scratch" ] || mariadb --execute "DROP DATABASE IF EXISTS \`$scratch\`"' EXIT
bad=0
for db in $(mariadb --batch --skip-column-names --execute 'SHOW DATABASES' | grep -vxE "$system" || true); do
	# a name that is not a plain identifier would become a path on the deploy host
	if ! [[ $db =~ ^[A-Za-z0-9_]+$ ]]; then
		echo "database '$db': a name a backup cannot hold as a file" >&2
		exit 1
	fi
	mariadb --batch --skip-column-names --execute "SHOW CREATE DATABASE \`$db\`" | cut -f2- > "$dir/$db.create.sql"
	counts "$db" > "$dir/$db.before"
	mariadb-dump --single-transaction --quick --routines --triggers --events "$db" | gzip -6 > "$dir/$db.sql.gz"
	counts "$db" > "$dir/$db.after"
	scratch=stackwright_verify_$db
	mariadb --execute "DROP DATABASE IF EXISTS \`$scratch\`; CREATE DATABASE \`$scratch\`"
	gunzip --stdout "$dir/$db.sql.gz" | mariadb "$scratch"
	counts "$scratch" > "$dir/$db.restored"
	mariadb --execute "DROP DATABASE \`$scratch\`"
	scratch=
	if ! awk -v db="$db" '
		FILENAME ~ /[.]before$/ { lo[$1] = $2; hi[$1] = $2; next }
		FILENAME ~ /[.]after$/ {
			if (!($1 in lo) || $2 < lo[$1]) lo[$1] = $2
			if (!($1 in hi) || $2 > hi[$1]) hi[$1] = $2
			next
		}
		{ got[$1] = $2 }
		END {
			for (t in lo) {
				if (!(t in got)) { print db "." t ": not in the restored dump"; bad = 1 }
				else if (got[t] < lo[t] || got[t] > hi[t]) {
					print db "." t ": " got[t] " rows restored, " lo[t] "-" hi[t] " live"; bad = 1
				}
			}
			exit bad
		}' "$dir/$db.before" "$dir/$db.after" "$dir/$db.restored" >&2; then
		bad=1
	fi
	rm -f "$dir/$db.before" "$dir/$db.after" "$dir/$db.restored"
	echo "$db"
done
exit $bad
