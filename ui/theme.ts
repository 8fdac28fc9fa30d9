// Light and dark: the system's preference until the user picks one with the
// toggle, which is then remembered. Charts read their colours from CSS
// variables when they draw, so a switch only needs a redraw.
import { recall, remember } from './saved-settings.ts'

type Theme = 'light' | 'dark'

const systemDark = window.matchMedia('(prefers-color-scheme: dark)')

function effective(): Theme {
  const chosen = recall('theme')
  if (chosen === 'light' || chosen === 'dark') return chosen
  return systemDark.matches ? 'dark' : 'light'
}

export function setupTheme(button: HTMLButtonElement, redraw: () => void): void {
  const apply = (): void => {
    const theme = effective()
    document.documentElement.dataset.theme = theme
    button.textContent = theme === 'dark' ? 'Light theme' : 'Dark theme'
    button.setAttribute('aria-pressed', String(theme === 'dark'))
    redraw()
  }
  button.addEventListener('click', () => {
    remember('theme', effective() === 'dark' ? 'light' : 'dark')
    apply()
  })
  systemDark.addEventListener('change', apply)
  apply()
}
