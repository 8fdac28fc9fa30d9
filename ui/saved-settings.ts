// What the dashboard keeps between visits, in localStorage. Storage can be
// blocked (privacy settings); the dashboard then simply forgets on reload.

const PREFIX = 'tidemark.'

export type SettingName = 'apiKey' | 'metric' | 'range' | 'theme'

export function recall(name: SettingName): string | undefined {
  try {
    return localStorage.getItem(PREFIX + name) ?? undefined
  } catch {
    return undefined
  }
}

export function remember(name: SettingName, value: string | undefined): void {
  try {
    if (value === undefined) localStorage.removeItem(PREFIX + name)
    else localStorage.setItem(PREFIX + name, value)
  } catch {
    // blocked storage: nothing is kept, nothing breaks
  }
}
